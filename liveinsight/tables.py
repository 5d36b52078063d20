"""The DynamoDB table definitions: one source of truth for the local stack and infra/template.yaml.

`events` and `sessions` keep the deployed schema (SPEC.md); `stats` holds the rollups, realtime items, the sites seen and the daily salt
(schema v2: hash `pk`, range `sk`, so a time range of one value is one Query).
"""
from __future__ import annotations

from typing import Any

from .config import Settings

ACTIVITY_INDEX = "ActivityIndex"


def table_definitions(settings: Settings) -> dict[str, dict[str, Any]]:
    """CreateTable arguments keyed by logical name (`events`, `sessions`, `stats`)."""
    return {
        "events": {
            "TableName": settings.events_table,
            "KeySchema": [
                {"AttributeName": "session_id", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "session_id", "AttributeType": "S"},
                {"AttributeName": "timestamp", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        },
        "sessions": {
            "TableName": settings.sessions_table,
            "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "session_id", "AttributeType": "S"},
                {"AttributeName": "is_active", "AttributeType": "S"},
                {"AttributeName": "last_activity", "AttributeType": "N"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": ACTIVITY_INDEX,
                    "KeySchema": [
                        {"AttributeName": "is_active", "KeyType": "HASH"},
                        {"AttributeName": "last_activity", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
        "stats": {
            "TableName": settings.stats_table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    }


# Attribute holding the expiry epoch on every table (DynamoDB TTL).
TTL_ATTRIBUTE = "ttl"


def create_tables(client: Any, settings: Settings) -> list[str]:
    """Create the tables that do not exist yet and enable TTL; returns the names created."""
    existing = set(client.list_tables().get("TableNames", []))
    created = []
    for definition in table_definitions(settings).values():
        name = definition["TableName"]
        if name in existing:
            continue
        client.create_table(**definition)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
        created.append(name)
    return created
