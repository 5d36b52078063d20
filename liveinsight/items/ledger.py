"""Exactly-once per item: every item records the last stream position it applied per lane.

A *lane* is one ordered source of records: a stream shard (records of one shard arrive in
order, and a failed batch is redelivered whole before the shard moves on), or one run of a
history import. A batch covers positions `first..last` of one lane. An item applies a
batch's delta only if its recorded position for the lane is below `first`, and records
`last` in the same conditional write, so a redelivered batch — after a crash between two
item writes, a timeout, a throttle — changes nothing it already changed.

Two consumers read the events stream (`lane_of`): the realtime consumer's lane of a shard is
`rt:<shard>`, the rollup consumer's (and the single consumer's) is the shard id itself. Each
writes its own item kinds, and a session item never carries a realtime lane, so neither
consumer's progress is taken for the other's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import REALTIME_CONSUMER, ROLLUP_CONSUMER, STREAM_CONSUMERS

APPLIED = "ap"  # attribute: {lane: last position applied}
REALTIME_LANE_PREFIX = "rt:"


def lane_of(consumer: str | None, shard: str) -> str:
    """The ledger lane of `consumer` (None: the single consumer) reading stream shard `shard`."""
    return f"{REALTIME_LANE_PREFIX}{shard}" if consumer == REALTIME_CONSUMER else shard


def parked_lane(consumer: str | None, shard: str) -> str:
    """The lane a record `consumer` could not apply is parked under (`items.parked`): it names the
    consumer, since the rollup consumer's ledger lane is the single consumer's."""
    return f"{consumer}:{shard}" if consumer else shard


def consumer_of_parked(lane: str) -> str | None:
    """The consumer that parked a record under `lane` (None: the single consumer)."""
    name, sep, _ = lane.partition(":")
    return name if sep and name in STREAM_CONSUMERS else None


class PartialRedelivery(Exception):
    """A batch overlaps, without containing, what an item already applied (batches must be redelivered whole)."""


@dataclass(frozen=True)
class Batch:
    """The stream positions a batch covers: `first..last` of `lane`."""

    lane: str
    first: int
    last: int

    def applied_to(self, item: dict[str, Any] | None) -> bool:
        """Whether `item` has already applied this batch; raises PartialRedelivery on a partial overlap."""
        if not item:
            return False
        done = item.get(APPLIED, {}).get(self.lane)
        if done is None or int(done) < self.first:
            return False
        if int(done) >= self.last:
            return True
        raise PartialRedelivery(f"{item.get('pk')}/{item.get('sk')} applied lane {self.lane} up to {done}, "
                                f"inside this batch ({self.first}..{self.last})")

    def stamp(self, item: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """Record this batch on `item` (keeping the other lanes `previous` had)."""
        lanes = dict((previous or {}).get(APPLIED, {}))
        lanes[self.lane] = self.last
        item[APPLIED] = lanes
