"""The team's saved dashboard views: a filter set and a period under a name, listed for everyone.

`GET /api/views` lists them, `PUT /api/views/{name}` saves one (a second save under the same name,
in any case, replaces it), `DELETE /api/views/{name}` removes it. All three need the API key:
a share link neither lists nor saves views. The stored shape is liveinsight/items/views.py.
"""
from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from . import config
from .errors import Conflict, InvalidRequest, NotFound
from .items import rollups, views as items
from .items.views import SavedView
from .store import Store

MAX_VIEWS = 200
MAX_NAME_CHARS = 80
MAX_SAVED_BY_CHARS = 254  # the longest e-mail address
# The dashboard's periods: the API's named and calendar ones, and whole days of the site's zone from `from`
# to `to`.
PERIODS = (*config.PERIOD_SECONDS, *config.CALENDAR_PERIODS, "custom")
VALUE_FILTERS = ("site", "page", "source", "event_type", "country", "region", "city", *rollups.CAMPAIGN_FILTERS,
                 "page_group")
FILTERS = ("period", "from", "to", *VALUE_FILTERS)
BODY_FIELDS = ("filters", "saved_by")


def check_name(name: str | None) -> str:
    """The view's name, trimmed; a 400 naming what is accepted otherwise."""
    text = (name or "").strip()
    if not text or len(text) > MAX_NAME_CHARS or not text.isprintable() or "/" in text:
        raise InvalidRequest(f"the view's `name` must be 1-{MAX_NAME_CHARS} printable characters without '/', "
                             f"not {name!r}")
    return text


def check_filters(filters: Any) -> dict[str, str]:
    """A view's `filters`: known keys only, a known period, whole days for a custom range, short printable values."""
    if not isinstance(filters, dict):
        raise InvalidRequest(f"`filters` must be an object with any of {', '.join(FILTERS)}")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidRequest(f"`filters` has unknown keys {', '.join(map(repr, unknown))}; "
                             f"accepted: {', '.join(FILTERS)}")
    checked: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > config.MAX_URL_CHARS \
                or not value.isprintable():
            raise InvalidRequest(f"`filters.{name}` must be a non-empty string of at most {config.MAX_URL_CHARS} "
                                 "printable characters (leave it out for all values)")
        checked[name] = value
    period = checked.setdefault("period", "24h")
    if period not in PERIODS:
        raise InvalidRequest(f"`filters.period` must be one of {', '.join(PERIODS)}, not {period!r}")
    if period == "custom":
        days = {}
        for name in ("from", "to"):
            try:
                days[name] = date.fromisoformat(checked.get(name, ""))
            except ValueError:
                raise InvalidRequest(f"`filters.{name}` must be a day such as 2026-11-01 when `filters.period` "
                                     f"is custom, not {checked.get(name)!r}") from None
        if days["from"] > days["to"]:
            raise InvalidRequest("`filters.from` must be on or before `filters.to`")
        checked.update({name: day.isoformat() for name, day in days.items()})
    elif "from" in checked or "to" in checked:
        raise InvalidRequest("`filters.from` and `filters.to` go with `filters.period` custom only")
    return checked


def parse_body(body: str | bytes | None) -> dict[str, Any]:
    """The JSON object of a PUT; a 400 naming the fields otherwise."""
    try:
        parsed = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body must be a JSON object such as "
                             '{"filters": {"period": "7d", "page": "/pricing"}}') from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("the body must be a JSON object with `filters` (and optionally `saved_by`)")
    unknown = sorted(set(parsed) - set(BODY_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown fields {', '.join(map(repr, unknown))}; accepted: {', '.join(BODY_FIELDS)}")
    return parsed


class SavedViews:
    """List, save and delete the deployment's saved views in the stats table."""

    def __init__(self, store: Store, settings: config.Settings | None = None):
        self.store = store
        self.table = (settings or store.settings).stats_table

    def all(self) -> list[SavedView]:
        """Every saved view, by name."""
        found = self.store.query(self.table, items.PARTITION, items.FIRST, items.LAST)
        return [SavedView.from_item(item) for item in found]

    def save(self, name: str, body: str | bytes | None, now: float | None = None) -> SavedView:
        """Store the view `name` from a PUT body, replacing one of the same name."""
        name = check_name(name)
        parsed = parse_body(body)
        filters = check_filters(parsed.get("filters", {}))
        saved_by = parsed.get("saved_by")
        if saved_by is not None and (not isinstance(saved_by, str) or len(saved_by) > MAX_SAVED_BY_CHARS
                                     or not saved_by.isprintable()):
            raise InvalidRequest(f"`saved_by` must be a string of at most {MAX_SAVED_BY_CHARS} printable characters")
        existing = self.all()
        if len(existing) >= MAX_VIEWS and name.casefold() not in {v.name.casefold() for v in existing}:
            raise Conflict(f"there are already {MAX_VIEWS} saved views; delete one before saving another")
        view = SavedView(name=name, filters=filters, saved_by=saved_by or None,
                         saved_at=int(now if now is not None else time.time()))
        self.store.put_item(self.table, view.item())
        return view

    def delete(self, name: str) -> None:
        """Remove the view `name`; a 404 if there is none."""
        name = check_name(name)
        if not self.store.delete_item(self.table, items.key(name)):
            raise NotFound(f"no saved view is named {name!r}")
