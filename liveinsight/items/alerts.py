"""A site's traffic-alert state in the stats table: what the last check saw and what was last sent.

One small item per site (`alert#<site>`), rewritten by each check with a version
condition, so two overlapping checks (EventBridge may deliver a schedule twice) cannot
both send the same alert.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rollups import NO_SITE

PREFIX = "alert#"


def key(site: str | None) -> dict[str, str]:
    return {"pk": f"{PREFIX}{site or NO_SITE}", "sk": "-"}


@dataclass(frozen=True)
class AlertState:
    """`state`: the last check's verdict; `sent` / `sent_at`: the last alert that went out."""

    state: str = "normal"
    since: float = 0.0
    sent: str = "normal"
    sent_at: float = 0.0
    version: int | None = None  # None: no item stored yet

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> "AlertState":
        if not item:
            return cls()
        return cls(state=item.get("state", "normal"), since=float(item.get("since", 0)),
                   sent=item.get("sent", "normal"), sent_at=float(item.get("sent_at", 0)), version=int(item["v"]))

    def item(self, site: str | None, **seen: Any) -> dict[str, Any]:
        """The item to store (with the next version); `seen` adds what the check measured."""
        return {**key(site), "v": (self.version or 0) + 1, "state": self.state, "since": int(self.since),
                "sent": self.sent, "sent_at": int(self.sent_at), **seen}
