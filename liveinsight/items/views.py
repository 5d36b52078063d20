"""A saved dashboard view in the stats table: one item per name in the `view` partition.

The sort key is the name case-folded, so "Pricing" and "pricing" are one view; the item keeps the
name as it was typed. All views of a deployment sit in one small partition and come back in one
Query, in name order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARTITION = "view"
# Query BETWEEN FIRST and LAST returns every view: a name is trimmed and printable, so it starts
# above a space (a key cannot be empty), and no printable character sorts after U+10FFFF.
FIRST, LAST = " ", "\U0010ffff"


def key(name: str) -> dict[str, str]:
    return {"pk": PARTITION, "sk": name.casefold()}


@dataclass(frozen=True)
class SavedView:
    """A name, the dashboard filters it opens with (period, from/to, site, page, source, event_type), who saved it."""

    name: str
    filters: dict[str, str] = field(default_factory=dict)
    saved_by: str | None = None
    saved_at: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "SavedView":
        return cls(name=item["name"], filters={k: str(v) for k, v in (item.get("filters") or {}).items()},
                   saved_by=item.get("saved_by") or None, saved_at=int(item.get("saved_at", 0)))

    def item(self) -> dict[str, Any]:
        stored = {**key(self.name), "name": self.name, "filters": dict(self.filters), "saved_at": self.saved_at}
        if self.saved_by:
            stored["saved_by"] = self.saved_by
        return stored

    def as_dict(self) -> dict[str, Any]:
        """The API's shape of a view (openapi.yaml `SavedView`)."""
        return {"name": self.name, "filters": dict(self.filters), "saved_by": self.saved_by,
                "saved_at": self.saved_at}
