"""DynamoDB's on-demand price of every request a boto3 client makes, metered at the wire.

`Meter.attach(client)` registers on the client's own hooks (`before-call.dynamodb.*`,
`after-call.dynamodb.*`, `after-call-error.dynamodb.*`): it reads the request body exactly
as botocore serialized it and the parsed response, and prices the call by DynamoDB's
on-demand billing rules (docs: "DynamoDB item sizes and formats", "DynamoDB read and write
operations"):

* Writes: ceil(size / 1 KB) write units per item written (PutItem, UpdateItem, DeleteItem,
  each processed item of BatchWriteItem), at least 1. The size is the larger of the item
  before and after the write (a delete: the item before). A failed conditional write
  (ConditionalCheckFailedException) still costs the units of the existing item, at least 1.
* TransactWriteItems: every Put/Update/Delete costs double; a ConditionCheck costs a
  transactional read of its item (2 x ceil(size / 4 KB) read units). A cancelled
  transaction is billed like failed conditional writes, doubled (an assumption: AWS does not
  document it), and counted in `failed_writes`.
* Reads: ceil(size / 4 KB) read units per item for GetItem and BatchGetItem (at least 1,
  also for a key that is not found), halved unless ConsistentRead is true; TransactGetItems
  doubles. Query and Scan sum the sizes of all items the page evaluated, round up to 4 KB
  once per page (at least 1), halved unless ConsistentRead is true. A projection or a filter
  does not lower the price: the full items are priced.
* Secondary indexes: a write that adds, changes or removes an index entry also costs write
  units on the index (a changed index key: delete + put; standard writes, also inside a
  transaction), billed under `table/index`. Stream reads, TTL deletes and control-plane
  calls are free.
* Item size: UTF-8 bytes of each attribute name plus its value: strings their UTF-8 bytes,
  numbers 1 byte per two significant digits plus 1 (AWS calls it approximate), binary its raw
  bytes, booleans and nulls 1, lists and maps 3 plus 1 per element plus the elements (a map
  element's name counts), sets the sum of their elements.

Sizes a request does not carry (the item before a write, the item after an update, the full
item behind a projection or a filter) are read with a separate, unmetered client on the same
endpoint; the items a write touches are locked against other metered writes until its
response is priced, so concurrent writers do not blur the before/after sizes. A write
conditioned on `attribute_not_exists(<key>)` is not read before: if it succeeds there was no
item, if it fails the unchanged item is read afterwards. With `trust_own_writes=True` the
meter also remembers the item each metered write left behind and skips the read before the
next write of that item: right only when every writer of those tables is metered (and no TTL
delete intervenes, which moto never makes). Together they cut the meter's own reads on the
local stack from one per write to about one per BatchWriteItem of new events.
"""
from __future__ import annotations

import base64
import json
import math
import re
import sys
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2
BATCH_GET_LIMIT = 100
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Control-plane calls have no request-unit price.
FREE_OPERATIONS = {"CreateTable", "DescribeTable", "ListTables", "UpdateTimeToLive", "DescribeTimeToLive",
                   "DeleteTable", "UpdateTable", "DescribeEndpoints", "TagResource", "ListTagsOfResource",
                   "DescribeContinuousBackups", "DescribeLimits"}
# Request fields that narrow what a read returns but not what it is billed for.
NARROWING_FIELDS = ("FilterExpression", "QueryFilter", "ScanFilter", "ConditionalOperator",
                    "ProjectionExpression", "AttributesToGet", "Select")
NARROWING_SELECTS = {"COUNT", "SPECIFIC_ATTRIBUTES"}
_CONTEXT_KEY = "liveinsight_price_meter"
_ABSENCE = re.compile(r"^\s*attribute_not_exists\s*\(\s*(#?[A-Za-z0-9_]+)\s*\)\s*$")
_NAME_TOKEN = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_TOKEN = re.compile(r":[A-Za-z0-9_]+")


# -- DynamoDB's item size rule -----------------------------------------------------------------

def number_size(text: str) -> int:
    """Bytes of a Number: 1 per two significant digits plus 1 (leading and trailing zeroes trimmed)."""
    mantissa = text.strip().lstrip("+-").lower().partition("e")[0]
    significant = mantissa.replace(".", "").strip("0")
    return (len(significant) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return len(base64.b64decode(value))  # as serialized on the wire: base64 text


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one AttributeValue (`{"S": ...}`, `{"M": {...}}`, ...), without its name."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(_binary_size(b) for b in data)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":  # 3 bytes for the map, 1 per element, each element named like an attribute
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: dict[str, dict[str, Any]] | None) -> int:
    """Bytes of an item in DynamoDB JSON: UTF-8 bytes of each attribute name plus its value's size."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write units of one standard write of an item of `size` bytes."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    """Read units of reading `size` bytes (one item, or one Query/Scan page's sum)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# -- the meter ---------------------------------------------------------------------------------

@dataclass
class Usage:
    """Requests and units of one (table or index, operation)."""

    requests: int = 0
    write_units: float = 0.0
    read_units: float = 0.0
    items_written: int = 0
    items_read: int = 0
    failed_writes: int = 0


@dataclass
class LargestItem:
    bytes: int
    table: str
    key: str


@dataclass
class _Index:
    name: str
    keys: tuple[str, ...]
    projection: str
    include: tuple[str, ...]


@dataclass
class _Table:
    keys: tuple[str, ...]
    indexes: tuple[_Index, ...]


@dataclass
class _Target:
    """One item a write request touches."""

    table: str
    key: dict[str, Any]
    kind: str  # put | update | delete | check
    item: dict[str, Any] | None = None
    transactional: bool = False
    creates: bool = False  # conditioned on the item's absence: if it succeeds, there was nothing before

    @property
    def ident(self) -> tuple[str, str]:
        return self.table, _canon(self.key)


@dataclass
class _Call:
    operation: str
    request: dict[str, Any]
    shadow: Any
    targets: list[_Target]
    before: dict[tuple[str, str], dict | None]
    locked: set[tuple[str, str]]


class Meter:
    """Prices the DynamoDB requests of every client attached to it; thread-safe."""

    def __init__(self, trust_own_writes: bool = False, free_key_prefixes: tuple[str, ...] = (),
                 kind_of: Callable[[str, str, str], str | None] | None = None) -> None:
        """`free_key_prefixes`: calls on items whose hash key starts with one of these are not metered
        (what the local stack stores only to stand in for something AWS does for free).
        `kind_of(table, hash key, range key)`: the kind of item a write is, for the write units by kind (None: not told)."""
        self.trust_own_writes = trust_own_writes
        self.kind_of = kind_of
        self.free_key_prefixes = free_key_prefixes
        self._context_key = f"{_CONTEXT_KEY}-{id(self)}"  # several meters may share a client
        self._known: dict[tuple[str, str], dict | None] = {}  # item images left by metered writes
        self._lock = threading.Lock()
        self._busy: set[tuple[str, str]] = set()
        self._busy_changed = threading.Condition()
        self._shadows: dict[tuple[Any, ...], Any] = {}
        self._tables: dict[tuple[int, str], _Table] = {}
        self._paused = False
        self.clients = 0
        self.errors = 0  # calls that could not be priced
        self.lookups = 0  # requests of the unmetered client: the meter's own load on the store
        self.reset()

    # -- attaching and controlling ------------------------------------------------------------

    def attach(self, client: Any) -> Any:
        """Meter every DynamoDB call `client` makes from now on; returns the client."""
        shadow = self._shadow_for(client)
        events = client.meta.events
        events.register("before-call.dynamodb.*", lambda **kw: self._before(shadow, **kw))
        events.register("after-call.dynamodb.*", self._after)
        events.register("after-call-error.dynamodb.*", self._after_error)
        with self._lock:
            self.clients += 1
        return client

    def reset(self) -> None:
        """Forget everything metered so far (attached clients stay attached)."""
        with self._lock:
            self._usage: dict[tuple[str, str], Usage] = defaultdict(Usage)
            self._requests: Counter[str] = Counter()
            self._failed_requests: Counter[str] = Counter()
            self._unpriced: Counter[str] = Counter()
            self._kinds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
            self.largest_write: LargestItem | None = None
            self.largest_read: LargestItem | None = None
            self.errors = 0
            self.lookups = 0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls started inside this block are neither priced nor slowed by size look-ups."""
        self._paused = True
        try:
            yield
        finally:
            with self._busy_changed:  # writes made meanwhile went unseen
                self._known.clear()
            self._paused = False

    # -- reading the totals -------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Totals so far as plain data: overall, per table (indexes as `table/index`), per operation."""
        with self._lock:
            usage = {key: Usage(**asdict(u)) for key, u in self._usage.items()}
            requests, failed, unpriced = Counter(self._requests), Counter(self._failed_requests), Counter(self._unpriced)
            largest_write, largest_read = self.largest_write, self.largest_read
            kinds = {kind: {"write_units": units, "items_written": items} for kind, (units, items) in self._kinds.items()}
        tables: dict[str, Usage] = defaultdict(Usage)
        operations: dict[str, Usage] = defaultdict(Usage)
        for (scope, operation), u in sorted(usage.items()):
            for bucket in (tables[scope], operations[operation]):
                bucket.write_units += u.write_units
                bucket.read_units += u.read_units
                bucket.items_read += u.items_read
                bucket.failed_writes += u.failed_writes
            tables[scope].items_written += u.items_written
            if "/" not in scope:  # an index entry is not an item written (table names cannot hold "/")
                operations[operation].items_written += u.items_written
            tables[scope].requests += u.requests
        for operation, count in requests.items():
            operations[operation].requests = count
        return {
            "clients": self.clients,
            "requests": sum(requests.values()),
            "failed_requests": sum(failed.values()),
            "write_units": sum(u.write_units for u in usage.values()),
            "read_units": sum(u.read_units for u in usage.values()),
            "tables": {scope: asdict(u) for scope, u in sorted(tables.items())},
            "operations": {op: asdict(u) for op, u in sorted(operations.items())},
            "largest_write": asdict(largest_write) if largest_write else None,
            "largest_read": asdict(largest_read) if largest_read else None,
            "unpriced": dict(unpriced),
            "kinds": dict(sorted(kinds.items(), key=lambda row: -row[1]["write_units"])),
            "meter_errors": self.errors,
            "meter_lookups": self.lookups,
        }

    # -- hooks --------------------------------------------------------------------------------

    def _before(self, shadow: Any, model: Any, params: dict, context: dict, **_: Any) -> None:
        if self._paused:
            return None
        call = None
        try:
            body = params.get("body") or b"{}"
            request = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
            if self.free_key_prefixes and self._is_free(request):
                return None
            call = _Call(model.name, request, shadow, [], {}, set())
            if model.name in WRITE_OPERATIONS:
                call.targets = self._write_targets(shadow, model.name, request)
                call.locked = self._lock_items({t.ident for t in call.targets})
                call.before = self._before_images(shadow, call.targets)
            context[self._context_key] = call
        except Exception as exc:  # a bench must never break the call it measures
            if call is not None:
                self._unlock(call.locked)
            self._fail(model.name, exc)
        return None  # anything else would short-circuit the real request

    def _is_free(self, request: dict) -> bool:
        """A GetItem or PutItem of an item whose (string) hash key starts with a free prefix."""
        item = request.get("Key") or request.get("Item") or {}
        return any(isinstance(v, dict) and isinstance(v.get("S"), str) and v["S"].startswith(self.free_key_prefixes)
                   for v in item.values())

    def _after(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        call: _Call | None = context.pop(self._context_key, None)
        if call is None:
            return
        try:
            self._price(call, http_response.status_code, parsed)
        except Exception as exc:
            self._forget(call.targets)
            self._fail(model.name, exc)
        finally:
            self._unlock(call.locked)

    def _after_error(self, context: dict, **_: Any) -> None:  # botocore passes the exception and context only
        call: _Call | None = context.pop(self._context_key, None)
        if call is not None:
            self._forget(call.targets)  # the write may or may not have happened
            self._unlock(call.locked)
            with self._lock:
                self._requests[call.operation] += 1
                self._failed_requests[call.operation] += 1

    def _fail(self, operation: str, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            first = self.errors == 1
        if first:
            print(f"pricing: could not price {operation}: {exc!r} (further failures are only counted)",
                  file=sys.stderr)

    # -- pricing ------------------------------------------------------------------------------

    def _price(self, call: _Call, status: int, parsed: dict) -> None:
        op, request = call.operation, call.request
        error = (parsed.get("Error") or {}).get("Code", "") if status >= 300 else ""
        with self._lock:
            self._requests[op] += 1
            if error:
                self._failed_requests[op] += 1
        if op in WRITE_OPERATIONS:
            if not error:
                self._price_writes(call, parsed)
            elif error in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                self._price_failed_writes(call)
            else:
                self._forget(call.targets)
        elif error:
            pass  # a refused read (throttled, invalid) costs nothing
        elif op == "GetItem":
            self._price_gets(call, {request["TableName"]: request}, {request["TableName"]: [parsed.get("Item")]}, {})
        elif op == "BatchGetItem":
            self._price_gets(call, request.get("RequestItems", {}), parsed.get("Responses", {}),
                             parsed.get("UnprocessedKeys") or {})
        elif op in ("Query", "Scan"):
            self._price_page(call, parsed)
        elif op == "TransactGetItems":
            self._price_transact_gets(call)
        elif op not in FREE_OPERATIONS:
            with self._lock:
                self._unpriced[op] += 1

    def _price_writes(self, call: _Call, parsed: dict) -> None:
        unprocessed = set()
        for table, requests in (parsed.get("UnprocessedItems") or {}).items():
            for target in self._batch_targets(call.shadow, table, requests):
                unprocessed.add(target.ident)
        done = [t for t in call.targets if t.ident not in unprocessed]
        for target in call.targets:
            if target.ident in unprocessed:  # not written: as it was
                self._remember(target.ident, call.before.get(target.ident))
        updated = [t for t in done if t.kind == "update"]
        if updated and call.request.get("ReturnValues") == "ALL_NEW" and "Attributes" in parsed:
            after_images = {updated[0].ident: parsed["Attributes"]}
        elif updated:
            after_images = self._images(call.shadow, [(t.table, t.key) for t in updated])
        else:
            after_images = {}
        touched: set[str] = set()
        for target in done:
            before = None if target.creates else call.before.get(target.ident)
            if target.kind == "check":
                self._charge(target.table, call.operation, read=TRANSACTION_FACTOR * read_units(item_size(before), True))
                self._remember(target.ident, before)
                touched.add(target.table)
                continue
            after = {"put": target.item, "delete": None}.get(target.kind, after_images.get(target.ident))
            self._remember(target.ident, after)
            size = max(item_size(before), item_size(after))
            factor = TRANSACTION_FACTOR if target.transactional else 1
            self._charge(target.table, call.operation, write=factor * write_units(size), written=1)
            self._charge_kind(target.table, target.key, factor * write_units(size))
            touched.add(target.table)
            if after is not None:
                self._note_largest("largest_write", item_size(after), target.table, target.key)
            info = self._table(call.shadow, target.table)
            for index in info.indexes:
                units = _index_write_units(info.keys, index, before, after)
                if units:
                    self._charge(f"{target.table}/{index.name}", call.operation, write=units, written=1)
        self._count_requests(touched, call.operation)

    def _price_failed_writes(self, call: _Call) -> None:
        deferred = [t for t in call.targets if t.ident not in call.before]
        if deferred:  # unchanged by the failed write, and still locked against metered writers
            call.before.update(self._images(call.shadow, [(t.table, t.key) for t in deferred]))
        touched = set()
        for target in call.targets:
            before = call.before.get(target.ident)
            self._remember(target.ident, before)  # a failed condition leaves the item as it was
            if target.kind == "check":
                self._charge(target.table, call.operation, read=TRANSACTION_FACTOR * read_units(item_size(before), True))
            else:
                factor = TRANSACTION_FACTOR if target.transactional else 1
                self._charge(target.table, call.operation, write=factor * write_units(item_size(before)), failed=1)
            touched.add(target.table)
        self._count_requests(touched, call.operation)

    def _price_gets(self, call: _Call, requested: dict[str, dict], found: dict[str, list],
                    unprocessed: dict[str, dict], factor: int = 1, reread: bool = False) -> None:
        for table, spec in requested.items():
            keys = [_from_wire(k) for k in (spec["Keys"] if "Keys" in spec else [spec["Key"]])]
            skipped = {_canon(_from_wire(k)) for k in (unprocessed.get(table) or {}).get("Keys", [])}
            keys = [k for k in keys if _canon(k) not in skipped]
            items = [i for i in found.get(table, []) if i]
            if reread or _narrowed(spec):  # priced on the full items
                items = [i for i in self._images(call.shadow, [(table, k) for k in keys]).values() if i]
            consistent = factor > 1 or spec.get("ConsistentRead") is True
            units = sum(read_units(item_size(i), consistent) for i in items)
            units += (len(keys) - len(items)) * read_units(0, consistent)  # keys not found still cost
            self._charge(table, call.operation, read=factor * units, read_items=len(items))
            for item in items:
                self._note_largest("largest_read", item_size(item), table, self._key_of(call.shadow, table, item))
            self._count_requests({table}, call.operation)

    def _price_transact_gets(self, call: _Call) -> None:
        for entry in call.request.get("TransactItems", []):
            get = entry["Get"]
            # The response lists items without their keys when projected: always re-read them in full.
            self._price_gets(call, {get["TableName"]: dict(get, ConsistentRead=True)}, {}, {},
                             factor=TRANSACTION_FACTOR, reread=True)

    def _price_page(self, call: _Call, parsed: dict) -> None:
        request = call.request
        table = request["TableName"]
        scope = f"{table}/{request['IndexName']}" if request.get("IndexName") else table
        if _narrowed(request) or "Items" not in parsed:
            items = self._evaluated_items(call.shadow, call.operation, request, parsed.get("LastEvaluatedKey"))
        else:
            items = parsed.get("Items", [])
        size = sum(item_size(i) for i in items)
        self._charge(scope, call.operation, read=read_units(size, request.get("ConsistentRead") is True),
                     read_items=len(items))
        for item in items:
            self._note_largest("largest_read", item_size(item), scope, self._key_of(call.shadow, table, item))
        self._count_requests({scope}, call.operation)

    def _charge(self, scope: str, operation: str, *, write: float = 0, read: float = 0, written: int = 0,
                read_items: int = 0, failed: int = 0) -> None:
        with self._lock:
            usage = self._usage[(scope, operation)]
            usage.write_units += write
            usage.read_units += read
            usage.items_written += written
            usage.items_read += read_items
            usage.failed_writes += failed

    def _charge_kind(self, table: str, key: dict[str, Any], units: float) -> None:
        if self.kind_of is None:
            return
        values = [str(next(iter(value.values()))) for value in key.values()]
        kind = self.kind_of(table, values[0], values[1] if len(values) > 1 else "")
        if kind is not None:
            with self._lock:
                self._kinds[kind][0] += units
                self._kinds[kind][1] += 1

    def _count_requests(self, scopes: Iterable[str], operation: str) -> None:
        with self._lock:
            for scope in scopes:
                self._usage[(scope, operation)].requests += 1

    def _note_largest(self, which: str, size: int, table: str, key: dict[str, Any]) -> None:
        with self._lock:
            current = getattr(self, which)
            if current is None or size > current.bytes:
                setattr(self, which, LargestItem(size, table, _key_text(key)))

    # -- what a write touches -----------------------------------------------------------------

    def _write_targets(self, shadow: Any, operation: str, request: dict) -> list[_Target]:
        if operation == "BatchWriteItem":
            return [t for table, requests in request.get("RequestItems", {}).items()
                    for t in self._batch_targets(shadow, table, requests)]
        if operation == "TransactWriteItems":
            targets = []
            for entry in request.get("TransactItems", []):
                (action, spec), = entry.items()
                kind = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}[action]
                targets.append(self._target(shadow, spec["TableName"], kind, spec, transactional=True))
            return targets
        kind = {"PutItem": "put", "UpdateItem": "update", "DeleteItem": "delete"}[operation]
        return [self._target(shadow, request["TableName"], kind, request)]

    def _batch_targets(self, shadow: Any, table: str, requests: list[dict]) -> list[_Target]:
        targets = []
        for entry in requests:
            if "PutRequest" in entry:
                targets.append(self._target(shadow, table, "put", entry["PutRequest"]))
            else:
                targets.append(self._target(shadow, table, "delete", entry["DeleteRequest"]))
        return targets

    def _target(self, shadow: Any, table: str, kind: str, spec: dict, transactional: bool = False) -> _Target:
        creates = kind in ("put", "update") and self._requires_absence(shadow, table, spec)
        if kind == "put":
            item = _from_wire(spec["Item"])
            return _Target(table, self._key_of(shadow, table, item), kind, item, transactional, creates)
        return _Target(table, _from_wire(spec["Key"]), kind, None, transactional, creates)

    def _requires_absence(self, shadow: Any, table: str, spec: dict) -> bool:
        """Whether the write's condition is `attribute_not_exists(<a key attribute>)`."""
        match = _ABSENCE.match(spec.get("ConditionExpression") or "")
        if not match:
            return False
        name = (spec.get("ExpressionAttributeNames") or {}).get(match.group(1), match.group(1))
        return name in self._table(shadow, table).keys

    # -- the unmetered side: table shapes and item images -------------------------------------

    def _shadow_for(self, client: Any) -> Any:
        import boto3
        from botocore.config import Config

        credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        key = (client.meta.endpoint_url, client.meta.region_name, frozen)
        with self._lock:
            if key in self._shadows:
                return self._shadows[key]
        session = boto3.session.Session(
            aws_access_key_id=frozen.access_key if frozen else None,
            aws_secret_access_key=frozen.secret_key if frozen else None,
            aws_session_token=frozen.token if frozen else None,
            region_name=client.meta.region_name,
        )
        shadow = session.client("dynamodb", endpoint_url=client.meta.endpoint_url,
                                config=Config(retries={"mode": "standard", "max_attempts": 8},
                                              max_pool_connections=20))
        with self._lock:
            return self._shadows.setdefault(key, shadow)

    def _table(self, shadow: Any, table: str) -> _Table:
        cache_key = (id(shadow), table)
        info = self._tables.get(cache_key)
        if info is None:
            description = shadow.describe_table(TableName=table)["Table"]
            indexes = []
            for index in description.get("GlobalSecondaryIndexes", []) + description.get("LocalSecondaryIndexes", []):
                projection = index.get("Projection", {})
                indexes.append(_Index(index["IndexName"], tuple(k["AttributeName"] for k in index["KeySchema"]),
                                      projection.get("ProjectionType", "ALL"),
                                      tuple(projection.get("NonKeyAttributes", []))))
            info = _Table(tuple(k["AttributeName"] for k in description["KeySchema"]), tuple(indexes))
            self._tables[cache_key] = info
        return info

    def _key_of(self, shadow: Any, table: str, item: dict) -> dict:
        return {k: item[k] for k in self._table(shadow, table).keys if k in item}

    def _before_images(self, shadow: Any, targets: list[_Target]) -> dict[tuple[str, str], dict | None]:
        """The items the write targets hold now: remembered from metered writes, or read.

        A write that may only create its item is not read before: it either succeeds on
        nothing, or fails and leaves the item to be read afterwards.
        """
        with self._busy_changed:
            known = {t.ident: self._known[t.ident] for t in targets if t.ident in self._known}
        unknown = [(t.table, t.key) for t in targets if t.ident not in known and not t.creates]
        return {**known, **(self._images(shadow, unknown) if unknown else {})}

    def _remember(self, ident: tuple[str, str], image: dict | None) -> None:
        if self.trust_own_writes and not self._paused:
            with self._busy_changed:
                self._known[ident] = image

    def _forget(self, targets: list[_Target]) -> None:
        with self._busy_changed:
            for target in targets:
                self._known.pop(target.ident, None)

    def _images(self, shadow: Any, keys: list[tuple[str, dict]]) -> dict[tuple[str, str], dict | None]:
        """The current full items at `keys` (None where absent), read strongly consistent."""
        images: dict[tuple[str, str], dict | None] = {}
        unique: dict[tuple[str, str], tuple[str, dict]] = {}
        for table, key in keys:
            unique.setdefault((table, _canon(key)), (table, key))
        for ident in unique:
            images[ident] = None
        pending = list(unique.values())
        for start in range(0, len(pending), BATCH_GET_LIMIT):
            chunk: dict[str, dict] = {}
            for table, key in pending[start:start + BATCH_GET_LIMIT]:
                chunk.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while chunk:
                with self._lock:
                    self.lookups += 1
                response = shadow.batch_get_item(RequestItems=chunk)
                for table, items in response.get("Responses", {}).items():
                    for item in items:
                        images[(table, _canon(self._key_of(shadow, table, item)))] = item
                chunk = response.get("UnprocessedKeys") or {}
        return images

    def _evaluated_items(self, shadow: Any, operation: str, request: dict, last_key: dict | None) -> list[dict]:
        """The full items one Query/Scan page evaluated: from its start key to its last evaluated key.

        The same request without filter, projection or limit, cut where the page ended: the
        page's own LastEvaluatedKey says how far it read, whatever the store's limit semantics.
        """
        dropped = (*NARROWING_FIELDS, "Limit", "ReturnConsumedCapacity")
        again = {k: v for k, v in request.items() if k not in dropped}
        expressions = " ".join(str(again.get(f, "")) for f in ("KeyConditionExpression",))
        names = {k: v for k, v in (again.pop("ExpressionAttributeNames", None) or {}).items()
                 if k in _NAME_TOKEN.findall(expressions)}
        values = {k: _from_wire(v) for k, v in (again.pop("ExpressionAttributeValues", None) or {}).items()
                  if k in _VALUE_TOKEN.findall(expressions)}
        if names:
            again["ExpressionAttributeNames"] = names
        if values:
            again["ExpressionAttributeValues"] = values
        if "ExclusiveStartKey" in again:
            again["ExclusiveStartKey"] = _from_wire(again["ExclusiveStartKey"])
        if "KeyConditions" in again:
            again["KeyConditions"] = {k: dict(c, AttributeValueList=[_from_wire(v) for v in c.get("AttributeValueList", [])])
                                      for k, c in again["KeyConditions"].items()}
        with self._lock:
            self.lookups += 1
        items = (shadow.query if operation == "Query" else shadow.scan)(**again).get("Items", [])
        if last_key:
            end = _canon(last_key)
            for position, item in enumerate(items):
                if _canon({k: item.get(k) for k in last_key}) == end:
                    return items[:position + 1]
        return items

    # -- item locks ---------------------------------------------------------------------------

    def _lock_items(self, idents: set[tuple[str, str]]) -> set[tuple[str, str]]:
        with self._busy_changed:  # all at once, so two writers can never hold parts of each other's set
            while self._busy & idents:
                self._busy_changed.wait()
            self._busy |= idents
        return idents

    def _unlock(self, idents: set[tuple[str, str]]) -> None:
        if idents:
            with self._busy_changed:
                self._busy -= idents
                self._busy_changed.notify_all()


def _narrowed(request: dict) -> bool:
    """Whether a read returns less than it is billed for (filter, projection, count, limit)."""
    return any(request.get(f) for f in NARROWING_FIELDS if f != "Select") or request.get("Select") in NARROWING_SELECTS


def _index_write_units(table_keys: tuple[str, ...], index: _Index, before: dict | None, after: dict | None) -> int:
    """Write units a base-table write costs on one secondary index."""
    old, new = _index_entry(table_keys, index, before), _index_entry(table_keys, index, after)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return write_units(item_size(old or new))
    if any(_canon(old[k]) != _canon(new[k]) for k in index.keys):  # moved: delete the old entry, put the new
        return write_units(item_size(old)) + write_units(item_size(new))
    if _canon(old) == _canon(new):
        return 0
    return write_units(max(item_size(old), item_size(new)))


def _index_entry(table_keys: tuple[str, ...], index: _Index, item: dict | None) -> dict | None:
    if item is None or any(k not in item for k in index.keys):
        return None  # sparse index: no entry without every index key
    if index.projection == "ALL":
        return item
    keep = set(table_keys) | set(index.keys) | (set(index.include) if index.projection == "INCLUDE" else set())
    return {k: v for k, v in item.items() if k in keep}


def _from_wire(value: Any) -> Any:
    """DynamoDB JSON as serialized (binary as base64 text) to botocore's parsed form (binary as bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (kind, data), = value.items()
            if kind == "B" and isinstance(data, str):
                return {"B": base64.b64decode(data)}
            if kind == "BS" and data and isinstance(data[0], str):
                return {"BS": [base64.b64decode(b) for b in data]}
            if kind == "L":
                return {"L": [_from_wire(v) for v in data]}
            if kind == "M":
                return {"M": {k: _from_wire(v) for k, v in data.items()}}
            if kind in ("S", "N", "BOOL", "NULL", "SS", "NS", "B", "BS"):
                return value
        return {k: _from_wire(v) for k, v in value.items()}
    return value


def _canon(value: Any) -> str:
    """A comparable text for keys and items: numbers by value ("1.50" == "1.5"), binary as base64."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (kind, data), = value.items()
            if kind == "N":
                return {"N": str(Decimal(data).normalize())}
            if kind == "NS":
                return {"NS": sorted(str(Decimal(n).normalize()) for n in data)}
            if kind == "B":
                return {"B": base64.b64encode(bytes(data)).decode() if not isinstance(data, str) else data}
            if kind in ("SS", "BS"):
                return {kind: sorted(_canonical({kind[0]: v})[kind[0]] for v in data)}
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _key_text(key: dict[str, Any]) -> str:
    parts = []
    for name, value in key.items():
        (kind, data), = value.items()
        text = base64.b64encode(bytes(data)).decode() if kind == "B" else str(data)
        parts.append(f"{name}={text if len(text) <= 80 else text[:77] + '...'}")
    return ", ".join(parts)


# -- metering the LiveInsight backend ------------------------------------------------------------

def meter_backend(meter: Meter) -> "ClientCensus":
    """Attach `meter` to every DynamoDB client the backend creates from now on.

    Replaces `liveinsight.store.make_client` and every reference a loaded module imported by
    name (e.g. `liveinsight.local.server.make_client`); call it before the stack starts. The census
    it returns counts the DynamoDB clients boto3's default session creates, so a client that
    escaped the meter shows up as created but not metered.
    """
    import boto3

    import liveinsight.local.server  # noqa: F401  (load the modules that import make_client by name)
    import liveinsight.store as store

    original = getattr(store.make_client, "__wrapped_make_client__", store.make_client)

    def make_client(settings: Any, service: str = "dynamodb", *args: Any, **kwargs: Any) -> Any:
        client = original(settings, service, *args, **kwargs)
        return meter.attach(client) if service == "dynamodb" else client

    make_client.__wrapped_make_client__ = original  # type: ignore[attr-defined]
    make_client.__doc__ = original.__doc__
    for name, module in list(sys.modules.items()):
        if (name == "liveinsight" or name.startswith("liveinsight.")) and getattr(module, "make_client", None) in (
                original, store.make_client):
            module.make_client = make_client
    census = ClientCensus(meter)
    boto3._get_default_session().events.register("creating-client-class.dynamodb", census.created)
    return census


class ClientCensus:
    """How many DynamoDB clients boto3's default session created, next to how many are metered."""

    def __init__(self, meter: Meter):
        self.meter = meter
        self.dynamodb_clients = 0

    def created(self, **_: Any) -> None:
        self.dynamodb_clients += 1

    def line(self) -> str:
        escaped = self.dynamodb_clients - self.meter.clients
        note = "" if escaped <= 0 else f"  WARNING: {escaped} unmetered: their requests are missing below"
        return f"DynamoDB clients metered: {self.meter.clients} of {self.dynamodb_clients} created{note}"


__all__ = ["Meter", "Usage", "LargestItem", "ClientCensus", "meter_backend", "item_size", "value_size",
           "number_size", "read_units", "write_units"]
