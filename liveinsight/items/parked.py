"""Parked stream records: what the aggregator could not apply, kept until someone replays it.

A record that still fails when it is alone (a bug, an item DynamoDB refuses) would fail its
whole batch again and again until the event source mapping skips the batch, taking its
honest neighbours with it. Instead the aggregator applies the rest and keeps the record
here, under one partition of the stats table:

    pk = "parked"
    sk = "<lane>#<sequence number, zero-padded>"   (a Query lists them in stream order)
    r  = the stream record as delivered (JSON)
    k  = the stats items that had applied it before it failed ("pk\tsk" each): a record's items
         are written one by one, so some may hold it already; a replay leaves them alone
    err, at, ttl = why it failed, when, and when it expires (PARKED_TTL_SECONDS)

`python -m liveinsight replay` applies each parked record once the cause is fixed (exactly
once: each replay is a ledger lane of its own) and deletes it.
"""
from __future__ import annotations

import json
from typing import Any

PARTITION = "parked"
PARKED_TTL_SECONDS = 30 * 86400  # long enough to notice the alarm, fix and replay
MAX_ERROR_CHARS = 500
ALL_KEYS = (" ", "~")  # an sk range holding every lane name (shard ids, "0", "replay:…")


def key(lane: str, sequence: str) -> dict[str, str]:
    return {"pk": PARTITION, "sk": f"{lane}#{int(sequence):040d}"}


def park_item(record: dict[str, Any], lane: str, error: BaseException, now: float,
              applied: list[tuple[str, str]]) -> dict[str, Any]:
    """The item keeping `record` of `lane`, which failed with `error` after `applied` items took it."""
    sequence = record.get("dynamodb", {}).get("SequenceNumber") or "0"
    item = {**key(lane, sequence), "r": json.dumps(record, separators=(",", ":"), default=str),
            "err": f"{error.__class__.__name__}: {error}"[:MAX_ERROR_CHARS], "at": int(now),
            "ttl": int(now + PARKED_TTL_SECONDS)}
    if applied:
        item["k"] = ["\t".join(k) for k in applied]
    return item


def applied_keys(item: dict[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset(tuple(k.split("\t", 1)) for k in item.get("k", ()))


def lane_and_sequence(item: dict[str, Any]) -> tuple[str, int]:
    lane, _, sequence = item["sk"].rpartition("#")
    return lane, int(sequence)


def record_of(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["r"])


def replay_lane(item: dict[str, Any]) -> str:
    """The ledger lane a replay of this record writes under: one per record, so a replay applies once."""
    lane, sequence = lane_and_sequence(item)
    return f"replay:{lane}:{sequence}"
