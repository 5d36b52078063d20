"""The Settings page's plain functions: a site's definitions as tables, and a goal form as the API's body.

No Streamlit here, so these are tested without a browser. Names, patterns, event types and property
values are typed by teammates or collected from strangers: the tables hold them as text cells.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from liveinsight.dashboard.client import Definitions

EVENT, PAGE, PAGE_GROUP = "Custom event", "Page", "Page group"
GOAL_KINDS = (EVENT, PAGE, PAGE_GROUP)
FROM_THE_START = "from the start"


def counting(definition: dict[str, Any]) -> str:
    """From when a definition's numbers hold events: "from the start" (seeded), "since 2026-12-01 09:30 UTC"
    (the oldest raw event it was recounted over, or when it was saved), or, while the recount job has yet to
    count the raw events kept from before it was saved, "since 09:31 UTC; the last 24 h being recounted"."""
    since = int(definition.get("since") or 0)
    counted_from = definition.get("counted_from", since)
    if not pd.isna(counted_from):  # None, or NaN in a table
        return FROM_THE_START if not int(counted_from) else f"since {_utc(int(counted_from))}"
    if not since:
        return FROM_THE_START
    return f"since {_utc(since)}; the raw events from before being recounted"


def _utc(at: int) -> str:
    return f"{datetime.fromtimestamp(at, timezone.utc):%Y-%m-%d %H:%M} UTC"


def _defined(definition: dict[str, Any]) -> str:
    return "at deploy" if definition.get("seeded") else "here"


def converts_on(goal: dict[str, Any]) -> str:
    """What converts a goal, in words: "event signup · plan = pro", "page /pricing", "page group blog"."""
    if goal.get("event_type"):
        props = " · ".join(f"{key} = {value}" for key, value in (goal.get("props") or {}).items())
        return f"event {goal['event_type']}" + (f" · {props}" if props else "")
    if goal.get("page"):
        return f"page {goal['page']}"
    return f"page group {goal.get('page_group')}"


def revenue(goal: dict[str, Any]) -> str:
    money = goal.get("revenue") or {}
    return f"{money['property']} in {money['currency']}" if money else ""


def page_groups_table(definitions: Definitions) -> pd.DataFrame:
    return pd.DataFrame([{"Name": g["name"], "Pattern": g["pattern"], "Counting": counting(g), "Defined": _defined(g)}
                         for g in definitions.page_groups], columns=["Name", "Pattern", "Counting", "Defined"])


def goals_table(definitions: Definitions) -> pd.DataFrame:
    return pd.DataFrame([{"Name": g["name"], "Converts on": converts_on(g), "Revenue": revenue(g),
                          "Counting": counting(g), "Defined": _defined(g)} for g in definitions.goals],
                        columns=["Name", "Converts on", "Revenue", "Counting", "Defined"])


def funnels_table(definitions: Definitions) -> pd.DataFrame:
    return pd.DataFrame([{"Name": f["name"], "Steps": " → ".join(f["steps"]), "Counting": counting(f),
                          "Defined": _defined(f)} for f in definitions.funnels],
                        columns=["Name", "Steps", "Counting", "Defined"])


def goal_body(kind: str, value: str | None, prop_key: str = "", prop_value: str = "", revenue_property: str = "",
              currency: str = "") -> dict[str, Any]:
    """The PUT body of a goal form: what converts it, and for a custom event an optional property match
    and revenue property. Empty fields are left out, so the API names what is missing."""
    value = (value or "").strip()
    if kind == PAGE:
        return {"page": value}
    if kind == PAGE_GROUP:
        return {"page_group": value}
    body: dict[str, Any] = {"event_type": value}
    if prop_key.strip():
        body["props"] = {prop_key.strip(): prop_value}
    if revenue_property.strip() or currency.strip():
        body["revenue"] = {"property": revenue_property.strip(), "currency": currency.strip().upper()}
    return body
