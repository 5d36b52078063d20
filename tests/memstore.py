"""An in-memory stand-in for `liveinsight.store.Store` (the calls the aggregator and readers make).

For tests that push 100,000 events through the real aggregator faster than moto can, and
that need to inject a crash or a throttle at an exact write.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from liveinsight.store import VersionConflict


class MemoryStore:
    def __init__(self, settings: Any):
        self.settings = settings
        self.tables: dict[str, dict[tuple, dict]] = {}
        self.lock = threading.Lock()
        self.writes = 0
        self.fail_at: int | None = None  # raise at this write number (crash injection)

    def _key(self, table: str, key: dict) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in key.items()))

    def _keyof(self, table: str, item: dict) -> tuple:
        names = ("session_id",) if table == self.settings.sessions_table else ("pk", "sk")
        return self._key(table, {n: item[n] for n in names})

    def _write(self) -> None:
        self.writes += 1
        if self.fail_at is not None and self.writes >= self.fail_at:
            self.fail_at = None
            raise RuntimeError(f"crash injected at write {self.writes}")

    def batch_get(self, table, keys, projection=None, names=None, include_expired=False, consistent=False):
        with self.lock:
            rows = self.tables.get(table, {})
            found = [dict(rows[self._key(table, k)]) for k in keys if self._key(table, k) in rows]
        now = time.time()
        return [i for i in found if include_expired or not ("ttl" in i and i["ttl"] < now)]

    def get_item(self, table, key, consistent=False):
        found = self.batch_get(table, [key])
        return found[0] if found else None

    def put_versioned(self, table, item, expected_version):
        with self.lock:
            self._write()
            rows = self.tables.setdefault(table, {})
            old = rows.get(self._keyof(table, item))
            if (old is None) != (expected_version is None) or (old is not None and old.get("v") != expected_version):
                raise VersionConflict("changed")
            rows[self._keyof(table, item)] = dict(item)

    def batch_put(self, puts):
        puts = list(puts)
        with self.lock:
            for table, item in puts:
                self._write()
                self.tables.setdefault(table, {})[self._keyof(table, item)] = dict(item)
        return (len(puts) + 24) // 25

    def add_to_set(self, table, key, attribute, values):
        with self.lock:
            self._write()
            row = self.tables.setdefault(table, {}).setdefault(self._key(table, key), dict(key))
            row[attribute] = set(row.get(attribute, set())) | set(values)

    def query(self, table, pk, first, last):
        now = time.time()
        with self.lock:
            rows = [dict(i) for i in self.tables.get(table, {}).values()
                    if i.get("pk") == pk and first <= i.get("sk", "") <= last]
        return sorted((i for i in rows if not ("ttl" in i and i["ttl"] < now)), key=lambda i: i["sk"])

    def items(self, table: str) -> list[dict]:
        return list(self.tables.get(table, {}).values())

    def largest_item_bytes(self, table: str) -> int:
        """The size of the table's largest item, as DynamoDB roughly counts it (names and values)."""
        return max(sum(len(str(k)) + len(v if isinstance(v, bytes) else str(v)) for k, v in item.items())
                   for item in self.items(table))


def aggregate_in_batches(store: MemoryStore, settings, event, total: int, size: int = 10_000) -> None:
    """Fold unpacked events `event(0)`..`event(total - 1)` in stream batches of `size`, one shard."""
    from liveinsight.aggregator import Aggregator
    from liveinsight.items.ledger import Batch

    aggregator = Aggregator(store, settings)
    for start in range(0, total, size):
        aggregator.apply([event(n) for n in range(start, start + size)], Batch("shard-0", start + 1, start + size))
