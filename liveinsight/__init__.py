"""LiveInsight: self-hosted real-time web analytics on AWS Lambda and DynamoDB.

Public names are imported lazily so that the Lambda handler's import stays small
(`Client` pulls in pandas; the handler never touches it).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "config",
    "Store": "store",
    "Collector": "ingest.collector",
    "Aggregator": "aggregator",
    "StatsReader": "query.stats",
    "RealtimeReader": "query.realtime",
    "Grant": "share",
    "Event": "ingest.events",
    "LiveInsightError": "errors",
    "InvalidRequest": "errors",
    "PayloadTooLarge": "errors",
    "Unauthorized": "errors",
    "Forbidden": "errors",
    "StoreUnavailable": "errors",
    "LocalStack": "local.server",
    "Client": "dashboard.client",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'liveinsight' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
