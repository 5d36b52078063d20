"""Stored shapes, one module per kind of item, and the ledger of stream positions they share.

    events     the raw event item (events table)
    sessions   the visit state the aggregator keeps between batches (sessions table)
    rollups    per-value hour/day counters with bounded breakdowns (stats table)
    realtime   per-minute, per-shard active-session items (stats table)
    ledger     which stream positions an item has applied (exactly-once per item)
    alerts     a site's traffic-alert state: what was last seen and last sent (stats table)
    views      the team's saved dashboard views: a name, filters and a period (stats table)

`SCHEMA_VERSION` is written on every rollup, realtime and session item (`sv`) so a later
layout can recognise and migrate what this one stored.
"""
SCHEMA_VERSION = 2
